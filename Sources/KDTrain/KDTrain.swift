// Module KDTrain.
@_exported import KDEval
@_exported import KDNN
