"""Machine learning: pure feature functions, the LSTM, training, artifacts and predictors."""
