<?php
// A raw Status header with a reason phrase of the script's own.
header('Status: 299 Custom Reason Here');
echo "custom status\n";
