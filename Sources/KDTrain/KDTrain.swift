// Module KDTrain.
@_exported import KDEval
