/* {{name}}: placeholder */
