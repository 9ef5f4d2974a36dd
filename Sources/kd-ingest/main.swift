// kd-ingest: placeholder until its issue lands.
print("kd-ingest: not implemented yet")
