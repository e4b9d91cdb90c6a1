"""detector: cues, calibrated score and reports for suspected face swaps."""
