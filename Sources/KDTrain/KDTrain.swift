// Module KDTrain.
