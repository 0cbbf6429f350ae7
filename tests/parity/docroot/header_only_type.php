<?php
// No explicit Content-Type: PHP's default_mimetype and charset apply.
echo "<p>default type</p>\n";
