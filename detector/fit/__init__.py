"""Fitting the detector's calibration: manipulated training clips made here, cached features, fit, evaluation."""
