"""The forecasts' published names, apart from the modules that compute them (those import pandas and
scikit-learn, seconds of CPU that loading the definitions should not pay)."""

FORECASTS = "film_forecasts"
HISTORY = "film_forecasts_history"
ACCURACY = "forecast_accuracy"
