"""Theory beside the measurement: mean-field signal propagation (:mod:`.meanfield`)."""

from .meanfield import (MeanField, chi, correlation_map, critical_sigma_w2, length_map,
                        length_trajectory, mean_field)

__all__ = ["MeanField", "chi", "correlation_map", "critical_sigma_w2", "length_map",
           "length_trajectory", "mean_field"]
