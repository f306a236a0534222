"""Localisation: messages as data (``message``), the supported locales (``locales``), rendering in
a reader's language (``render``) and the Flask side (``web``). See README, "Localisation"."""
