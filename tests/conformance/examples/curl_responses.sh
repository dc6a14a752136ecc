curl "${OCULI_BASE_URL:-https://api.x.ai/v1}/responses" \
  -H "Content-Type: application/json" \
  -H "Authorization: Bearer $XAI_API_KEY" \
  -m 3600 \
  -d '{
    "model": "grok-4.20-reasoning",
    "input": [
      {
        "role": "user",
        "content": [
          {
            "type": "input_image",
            "image_url": "'"${OCULI_IMAGE_URL:-https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png}"'",
            "detail": "high"
          },
          {
            "type": "input_text",
            "text": "What'\''s in this image?"
          }
        ]
      }
    ]
  }'
