<?php
// A script called with extra path segments: /app/info.php/extra/path.
header('Content-Type: text/plain');
foreach (['SCRIPT_NAME', 'PATH_INFO', 'PHP_SELF', 'SCRIPT_FILENAME', 'REQUEST_URI'] as $k) {
    printf("%-16s %s\n", $k, $_SERVER[$k] ?? '(unset)');
}
