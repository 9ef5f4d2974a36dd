// kd-tokenize: placeholder until its issue lands.
print("kd-tokenize: not implemented yet")
