"""Theory beside the measurement: mean-field signal propagation (:mod:`.meanfield`) and
activations tailored to a depth (:mod:`.tailored`, TAT)."""

from .meanfield import (MeanField, chi, correlation_map, critical_sigma_w2, length_map,
                        length_trajectory, mean_field)
from .tailored import c_map_leaky_relu, tailored_relu, tat_slope

__all__ = ["MeanField", "c_map_leaky_relu", "chi", "correlation_map", "critical_sigma_w2",
           "length_map", "length_trajectory", "mean_field", "tailored_relu", "tat_slope"]
