<?php
// Behaves differently on HEAD: a script that knows the body will be dropped.
header('X-Method: ' . $_SERVER['REQUEST_METHOD']);
if ($_SERVER['REQUEST_METHOD'] === 'HEAD') {
    header('Content-Length: 12345');
    exit;
}
echo str_repeat("head-aware\n", 10);
