// Module KDTeacher.
