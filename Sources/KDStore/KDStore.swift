// Module KDStore.
