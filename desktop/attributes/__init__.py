"""Classes & attributes editor screen."""
