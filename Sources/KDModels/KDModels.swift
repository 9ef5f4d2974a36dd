// Module KDModels.
