"""`python -m alpaca_lc.testing.openai_server`."""

from alpaca_lc.testing.openai_server.app import main

main()
