"""Export-control rules as code over data: the device database (specs), threshold profiles and the
verdict's checks. No torch; reads only YAML data and run records."""
