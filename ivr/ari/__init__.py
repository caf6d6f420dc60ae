"""A thin, typed Asterisk REST Interface (ARI) client: only what the controller uses."""
