"""Balance diagnostics: one engine for standardised differences, variance ratios and verdicts."""

from jdl_lib.balance.stats import SD_CONVENTIONS, BalanceResult, assess_balance, balance_table, verdict

__all__ = ["SD_CONVENTIONS", "BalanceResult", "assess_balance", "balance_table", "verdict"]
