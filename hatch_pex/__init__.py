"""hatch-pex: a Hatch build target that writes one executable .pex file."""
