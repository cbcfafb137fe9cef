"""The client's pages: the directory, the booking stepper, their own sessions."""
