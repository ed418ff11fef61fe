"""Small apps whose handlers make exactly-once visible (a counter cannot hide a double apply)."""
