<?php
// Echoes the request body's length and SHA-1.
$in = file_get_contents('php://input');
echo strlen($in), ' ', sha1($in), "\n";
