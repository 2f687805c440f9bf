"""Sub-commands of the ``jaxdeep`` CLI; each module has NAME, HELP, add_arguments and run."""

from . import gradcheck, gradflow, train

COMMANDS = (gradflow, gradcheck, train)
