"""Sub-commands of the ``jaxdeep`` CLI; each module has NAME, HELP, add_arguments and run."""

from . import gradcheck, gradflow, info, phase, pretrain, rbm, study, train, unet

__all__ = ["COMMANDS"]

COMMANDS = (study, gradflow, gradcheck, phase, train, unet, rbm, pretrain, info)
