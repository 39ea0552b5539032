"""Container engine adapters; they only run the engines' own CLIs."""
