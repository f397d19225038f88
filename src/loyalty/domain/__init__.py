"""Pure loyalty rules: no clock, no I/O. Everything here is a function of a program and inputs."""
