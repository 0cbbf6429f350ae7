<?php
header('Location: https://example.test/moved?x=1', true, 301);
echo "moved\n";
