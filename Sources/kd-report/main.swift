// kd-report: placeholder until its issue lands.
print("kd-report: not implemented yet")
