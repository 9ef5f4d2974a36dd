// kd-train: placeholder until its issue lands.
print("kd-train: not implemented yet")
