"""Loss functions (functional), named weighted terms (perceptual) and the one builder."""
