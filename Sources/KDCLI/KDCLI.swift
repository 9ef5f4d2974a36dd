// Module KDCLI.
