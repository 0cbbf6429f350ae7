<?php
// Echoes the raw request body back, with what PHP thinks its length and type are.
header('Content-Type: application/octet-stream');
header('X-Content-Length: ' . ($_SERVER['CONTENT_LENGTH'] ?? '(unset)'));
header('X-Content-Type: ' . ($_SERVER['CONTENT_TYPE'] ?? '(unset)'));
$in = file_get_contents('php://input');
header('X-Input-Sha1: ' . sha1($in));
echo $in;
