<?php
// error_log() without an error_log file goes to the FastCGI stderr stream.
error_log('marker-' . ($_GET['m'] ?? ''));
echo "logged\n";
