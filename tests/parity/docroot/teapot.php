<?php
http_response_code(418);
header('Content-Type: text/plain; charset=utf-8');
echo "short and stout\n";
