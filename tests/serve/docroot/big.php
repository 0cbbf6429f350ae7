<?php
// ?mb=N megabytes of output, written a megabyte at a time.
header('Content-Type: application/octet-stream');
$chunk = str_repeat('x', 1 << 20);
for ($i = 0; $i < (int)($_GET['mb'] ?? 1); $i++) { echo $chunk; flush(); }
