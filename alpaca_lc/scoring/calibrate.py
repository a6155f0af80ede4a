"""`alpaca-lc calibrate`: instruction difficulties fitted jointly over many models' annotations, and the
gamed-baseline rows that regularise LC, written as a calibration file (`records.calibration`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from alpaca_lc.errors import InputError
from alpaca_lc.records.annotations import Annotations, expand_annotation_paths, read_annotations
from alpaca_lc.records.calibration import Calibration, write_calibration
from alpaca_lc.records.destinations import check_destinations
from alpaca_lc.records.table import instruction_keys

if TYPE_CHECKING:
    import pandas as pd

    from alpaca_lc.config import CalibrateConfig

logger = logging.getLogger(__name__)


def calibrate(
    annotations: Annotations, gamed: Annotations | None, *, ridge: float = 1.0, provenance: str = ""
) -> Calibration:
    """Fit instruction difficulties jointly over many models, and attach the gamed-baseline rows.

    Args:
        annotations: validated annotations of many models against one baseline.
        gamed: annotations of the baseline's own verbose/concise variants (they join the joint fit and are
            kept for the LC regularisation), or None.
        ridge: L2 penalty on the instruction terms (see `stats.difficulty`).
        provenance: free text stored in the calibration file.
    """
    import pandas as pd

    from alpaca_lc.stats.difficulty import fit_joint_difficulty

    frame = annotations.to_pandas()
    gamed_frame = None if gamed is None else gamed.to_pandas()
    both = frame if gamed_frame is None else pd.concat([frame, gamed_frame], ignore_index=True)
    # The baseline judged against itself carries no information about instructions; a real model's answer
    # that happens to equal the baseline's is a tie, which does.
    identical = (both["output_1"] == both["output_2"]).groupby(both["model"]).transform("all")
    both = both[~identical]
    if both["model"].nunique() < 2:
        raise InputError("calibration needs annotations of at least two models", path=annotations.files[0])
    delta = both["output_1"].str.len() - both["output_2"].str.len()
    keys = instruction_keys(both["instruction"].tolist())
    fit = fit_joint_difficulty(both["model"], keys, delta, both["preference"], ridge=ridge)
    logger.info("joint fit over %d models converged in %d Newton steps", both["model"].nunique(), fit.iterations)
    judges = frame["annotator"].dropna().unique()
    judge = str(judges[0]) if len(judges) == 1 else None
    return Calibration.of(fit.difficulty, _gamed_table(gamed_frame), "calibrate", provenance, judge)


def _gamed_table(gamed: pd.DataFrame | None) -> pd.DataFrame | None:
    import pandas as pd

    if gamed is None:
        return None
    delta = gamed["output_1"].str.len() - gamed["output_2"].str.len()
    sd = delta.groupby(gamed["model"]).transform(lambda s: s.std(ddof=1))
    return (
        pd.DataFrame(
            {
                "key": instruction_keys(gamed["instruction"].tolist()),
                "variant": gamed["model"],
                "std_delta_len": delta / sd,
                "preference": gamed["preference"],
            }
        )
        .dropna(subset=["preference"])
        .reset_index(drop=True)
    )


def run_calibrate(config: CalibrateConfig) -> str:
    """Fit and write a calibration; return a one-line summary.

    Args:
        config: the annotation files, the gamed-baseline files, the prior and the output path.
    """
    check_destinations([config.output], expand_annotation_paths([*config.annotations, *config.gamed]))
    annotations = read_annotations(list(config.annotations))
    gamed = read_annotations(list(config.gamed)) if config.gamed else None
    sources = ", ".join(p.name for p in (*config.annotations, *config.gamed))
    n_models = len(set(annotations.model.tolist()))
    provenance = f"alpaca-lc calibrate (ridge={config.ridge}) over {n_models} models: {sources}"
    calibration = calibrate(annotations, gamed, ridge=config.ridge, provenance=provenance)
    write_calibration(config.output, calibration)
    n_gamed = 0 if calibration.gamed_table is None else len(calibration.gamed_table)
    return f"wrote {config.output}: {len(calibration.values)} instruction difficulties, {n_gamed} gamed rows"
