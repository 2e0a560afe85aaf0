"""What the machine is and what it can tell about itself while a model runs."""
