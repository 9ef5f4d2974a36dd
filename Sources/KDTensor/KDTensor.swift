// Module KDTensor.
