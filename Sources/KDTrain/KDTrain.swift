// Module KDTrain.
@_exported import KDNN
