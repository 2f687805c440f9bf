"""Sub-commands of the ``jaxdeep`` CLI; each module has NAME, HELP, add_arguments and run."""

from . import gradcheck, gradflow, pretrain, rbm, train, unet

COMMANDS = (gradflow, gradcheck, train, unet, rbm, pretrain)
