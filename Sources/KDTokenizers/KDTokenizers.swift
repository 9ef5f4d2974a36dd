// Module KDTokenizers.
