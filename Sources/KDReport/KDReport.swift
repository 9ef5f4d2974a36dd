// Module KDReport.
