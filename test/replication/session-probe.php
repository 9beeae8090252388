<?php
// One request's session, as a PHP site's worker opens it: by id, through the session handler the
// ini configures, optionally setting a value. Prints what the session holds; exits non-zero when
// the handler could not read or write.
$id = $argv[1];
$value = $argv[2] ?? '';
session_id($id);
if (!session_start()) exit(2);
if ($value !== '') $_SESSION['value'] = $value;
echo json_encode($_SESSION);
if (!session_write_close()) exit(3);
