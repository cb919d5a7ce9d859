"""Forecasts: how each film in release will end, backtested, with the uncertainty said."""
